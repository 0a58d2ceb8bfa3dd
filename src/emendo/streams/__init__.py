"""Kafka streaming service: Faust app, agents, dead letters, local broker."""
