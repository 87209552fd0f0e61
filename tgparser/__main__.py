from tgparser.cli import run

run()
