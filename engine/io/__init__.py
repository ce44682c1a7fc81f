"""Reading inputs and writing artifacts."""
