class Scenarios { public static void main(String[] a) { System.out.println("x"); } }
