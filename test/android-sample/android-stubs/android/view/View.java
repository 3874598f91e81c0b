package android.view;

public class View {
    public static final int VISIBLE = 0x00000000;
    public static final int GONE = 0x00000008;
    public static final int FOCUS_DOWN = 0x00000082;
    public interface OnClickListener {
        void onClick(View v);
    }
    public void setOnClickListener(OnClickListener l) { throw new RuntimeException("Stub!"); }
    public void setVisibility(int visibility) { throw new RuntimeException("Stub!"); }
    public boolean post(Runnable action) { throw new RuntimeException("Stub!"); }
}
