from hagane.cli import main

main()
