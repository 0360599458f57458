"""Verdicts: trials and controls, deciding a verdict from what they
observed, the claim catalogue and the recorded baseline."""
