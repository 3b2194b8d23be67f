from kubectl.main import main

main()
