"""What a person runs beside the worker: CLI, demo, simulate, evaluate, report, bench, broker, the Alertmanager bridge.

The worker never imports anything here (tests/test_layout.py checks it).
"""
