package android.widget;

import android.content.Context;
import java.util.Collection;

public class ArrayAdapter<T> extends BaseAdapter {
    public ArrayAdapter(Context context, int resource) { throw new RuntimeException("Stub!"); }
    public T getItem(int position) { throw new RuntimeException("Stub!"); }
    public int getCount() { throw new RuntimeException("Stub!"); }
    public void clear() { throw new RuntimeException("Stub!"); }
    public void addAll(Collection<? extends T> collection) { throw new RuntimeException("Stub!"); }
}
