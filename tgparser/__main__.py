from tgparser.cli import main

main(prog_name="tgparser")
