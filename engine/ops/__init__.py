"""Operations with a CPU and a GPU implementation; each module dispatches on `backend.gpu`."""
