"""Operations: the health checks behind `madoguchi doctor`."""
