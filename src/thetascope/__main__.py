from thetascope.cli import main

main()
