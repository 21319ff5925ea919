"""Landing writers, one module per warehouse, the same small interface."""
