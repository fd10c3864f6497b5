"""`netlab dashboard`: the dashboard notebook, run by Voila with a bounded, culled kernel pool."""
