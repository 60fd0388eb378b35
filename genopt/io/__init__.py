"""Reading and writing the files genopt consumes: PLINK filesets and tables."""
