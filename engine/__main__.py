"""`python -m engine`: the Hydra application."""

from engine.app import main

if __name__ == "__main__":
    main()
