"""Reporting: what the results say: scores, effects with their uncertainty, the variants' results read
back and ranked, the comparison's tables, text and pictures, the gate's checks and whether the committed
lock still holds."""
