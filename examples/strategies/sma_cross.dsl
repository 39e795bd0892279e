; Moving-average crossover, long only, with a 5 % stop.
(strategy
  (long-entry (cross-above (sma close 10) (sma close 50)))
  (long-exit  (cross-below (sma close 10) (sma close 50)))
  (short-entry false) (short-exit false)
  (size (fixed 1.0)) (stop-loss 0.05) (take-profit none) (max-hold none))
