"""The pure domain of fairwatch: events, customer state, policy, detectors, alerts.

Nothing in this package imports Faust or Kafka or reads a clock: every rule is a
function of plain values, unit-tested without a broker.
"""
