namespace BlobCache.Mesh.Membership;

internal static class Arrays
{
    /// <summary>
    /// <see cref="Array.Resize{T}"/> without zeroing the new part: for per-node arrays whose entries past the used
    /// count are always written before they are read. In a crash wave every node grows several of these at once,
    /// and clearing fresh memory that is about to be overwritten would cost about a tenth of the simulator's time.
    /// </summary>
    public static void Grow<T>(ref T[] array, int size) where T : unmanaged
    {
        T[] grown = GC.AllocateUninitializedArray<T>(size);
        array.AsSpan(0, Math.Min(array.Length, size)).CopyTo(grown);
        array = grown;
    }

    /// <summary>Grows by half, not double: a wave of 1,000 crashes should not cost room for 2,048.</summary>
    public static int GrownByHalf(int length) => length + length / 2 + 4;
}
