package android.system;

public final class StructStat {
    public final int st_mode = 0;
}
