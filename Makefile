.PHONY: run test lint bench messages

run:
	streamlit run app.py

test:
	pip install -r requirements-dev.txt && pytest

lint:
	ruff check . && ruff format --check .

bench:
	python bench/embedded_speed.py

# Re-extract the English strings and merge them into each language's catalog (new ones come
# in untranslated; tests/test_i18n.py fails until they are translated).
messages:
	mkdir -p build
	pybabel extract --no-location --omit-header --sort-output -k N_ -k ngettext:1,2 \
		-o build/assistant.pot app.py app_pages assistant
	pybabel update --width 100 -i build/assistant.pot -d assistant/locale \
		-D assistant
