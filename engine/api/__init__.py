"""The public Python API: one function per job and the stateful jobs as estimators.

Import them from `engine` (`engine.communities`, `engine.OnlineClustering`, ...); the modules
here hold one function each, over the same cores the Hydra jobs run.
"""
