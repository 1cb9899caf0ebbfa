from cenv.cli import main

main()
