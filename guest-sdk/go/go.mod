module eventcontroller/guest

go 1.27
