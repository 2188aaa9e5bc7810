"""Helpers the tests share (brokers, processes, topic I/O, stories); no test module imports another."""
