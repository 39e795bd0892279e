; Squeeze release with momentum in the breakout's direction; trailing stop.
(strategy
  (long-entry  (and (squeeze-off 20 2.0 1.5) (> (squeeze-mom 20) 0)))
  (long-exit   (or (exhausted-up close 4 9) (< (squeeze-mom 20) 0)))
  (short-entry (and (squeeze-off 20 2.0 1.5) (< (squeeze-mom 20) 0)))
  (short-exit  (or (exhausted-down close 4 9) (> (squeeze-mom 20) 0)))
  (trailing-stop 0.03))
