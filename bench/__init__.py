"""`make bench`, run as `python3 -m bench` from the repository root.

- __main__.py: the command line, the plan of stages, the output file.
- plan.py: the scenarios in running order, each with its bounds (Scenario).
- scenarios.py: what each scenario does; storm.py: the storms of many tunnels.
- measure.py: the measuring tools (MQTT CONNACK timing, /proc, nftables).
- runner.py: forked workers, one lab per (scenario, program).
- report.py: the Markdown table and details.
"""
