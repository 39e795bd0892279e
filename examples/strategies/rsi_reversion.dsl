; Mean reversion on RSI, both directions, volatility-targeted size, time stop.
(strategy
  (long-entry  (cross-above (rsi close 14) 30))
  (long-exit   (> (rsi close 14) 55))
  (short-entry (cross-below (rsi close 14) 70))
  (short-exit  (< (rsi close 14) 45))
  (size (vol-target 0.4 48))
  (stop-loss 0.04) (take-profit 0.08) (max-hold 72))
