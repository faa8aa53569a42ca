"""fleet5g: orchestration of AGV/AMR fleets and overhead cranes on a 5G-connected site."""

__version__ = "0.1.0"
