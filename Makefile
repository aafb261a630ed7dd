.PHONY: run test lint bench

run:
	streamlit run app.py

test:
	pip install -r requirements-dev.txt && pytest

lint:
	ruff check . && ruff format --check .

bench:
	python bench/embedded_speed.py
