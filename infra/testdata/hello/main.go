// Command hello is a tiny main package the tests build with lambdaBuilder.
package main

func main() {}
