"""Service layer: plain functions and small classes that take a Session and an actor."""
