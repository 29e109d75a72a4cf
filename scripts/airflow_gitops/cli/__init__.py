"""Entry points behind tasks.py, one module per area. Each returns an exit code; none lets a traceback reach the user."""
