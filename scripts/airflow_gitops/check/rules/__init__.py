"""The rules of invoke check: pure functions of the repository model and the renders, no tool and no network."""
