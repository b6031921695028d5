"""Joey NMT and OpenNMT-py set up and timed with our model sizes on our data."""
