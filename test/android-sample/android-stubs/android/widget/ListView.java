package android.widget;

public class ListView extends AdapterView<ListAdapter> {
    @Override
    public void setAdapter(ListAdapter adapter) { throw new RuntimeException("Stub!"); }
}
