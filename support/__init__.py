"""Throwaway servers on loopback that the tests and the benchmark both start: PostgreSQL and an S3 (moto) server."""
