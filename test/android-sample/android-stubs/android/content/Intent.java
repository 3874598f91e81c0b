package android.content;

public class Intent {
    public Intent(String action) { throw new RuntimeException("Stub!"); }
    public String getAction() { throw new RuntimeException("Stub!"); }
    public String getStringExtra(String name) { throw new RuntimeException("Stub!"); }
    public String[] getStringArrayExtra(String name) { throw new RuntimeException("Stub!"); }
}
