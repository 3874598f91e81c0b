package android.widget;

import android.view.View;

public abstract class AdapterView<T extends Adapter> extends View {
    public interface OnItemClickListener {
        void onItemClick(AdapterView<?> parent, View view, int position, long id);
    }
    public void setOnItemClickListener(OnItemClickListener listener) { throw new RuntimeException("Stub!"); }
    public abstract void setAdapter(T adapter);
}
