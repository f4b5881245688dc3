# Thin wrappers over course.py, which does the work (and runs the same on a machine without make).
PYTHON ?= python3
BUDGET ?= laptop
NOTEBOOKS ?=

.PHONY: lab test test-browser bench html notebooks format prepare site help

help:
	@$(PYTHON) course.py help

lab:        ## set up .venv if needed, generate missing notebooks, open JupyterLab at 00
	$(PYTHON) course.py lab

test:       ## install what is missing, run the unit tests and every notebook at the smoke budget
	$(PYTHON) course.py test

test-browser: ## every notebook in JupyterLab in headless Chromium (apt: chromium chromium-driver): Run All, widgets, controls
	$(PYTHON) course.py test-browser $(NOTEBOOKS)

bench:      ## time notebooks at a budget and print their recorded figures: make bench BUDGET=laptop NOTEBOOKS="01 03"
	$(PYTHON) course.py bench --budget $(BUDGET) $(NOTEBOOKS)

html:       ## the same, and write every executed notebook as an HTML page
	$(PYTHON) course.py bench --budget $(BUDGET) --html $(NOTEBOOKS)

notebooks:  ## generate the .ipynb of every notebook source that has none (never overwrites)
	$(PYTHON) course.py notebooks

format:     ## rewrite every notebook source exactly as JupyterLab saves it (the tests require it)
	$(PYTHON) course.py format

prepare:    ## train and save every notebook's models at a budget, so that in class every cell loads them: make prepare BUDGET=laptop
	$(PYTHON) course.py prepare --budget $(BUDGET)

site:       ## the course as a static site (both editions, every figure, math offline) from notebooks run at a budget: make site BUDGET=smoke
	$(PYTHON) course.py site --budget $(BUDGET)
