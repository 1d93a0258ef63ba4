namespace BlobCache.Mesh.Reading;

/// <summary>
/// A blob that fits in one chunk lives with its properties: its chunk is placed by the blob's key, the key its
/// properties are owned by, so the metadata owner that answers a reader's lookup holds (or fills) the bytes too, and
/// its answer carries them when the reader asks. A cold read of a small blob through a node is then one peer round
/// trip for properties and bytes together, where it was one to the metadata owner and one to the chunk's owner
/// (which asked the metadata owner again). The node and the simulator place and answer by these rules.
/// </summary>
public static class OneChunkBlob
{
    /// <summary>Whether a blob of <paramref name="blobLength"/> bytes is one chunk of <paramref name="chunkSize"/> (an empty blob has none).</summary>
    public static bool Fits(long blobLength, long chunkSize) => blobLength > 0 && blobLength <= chunkSize;

    /// <summary>
    /// Most bytes a metadata answer carries: the answer is due within the metadata peer deadline, fill from Blob
    /// included, whatever the chunk size (up to 64 MiB). A bigger one-chunk blob still lives with its properties; its
    /// reader asks the same owner for it, which then has the properties already.
    /// </summary>
    public const int MaxCarriedBytes = 1 << 20;

    /// <summary>Whether a metadata answer may carry the bytes of a blob of <paramref name="blobLength"/> bytes.</summary>
    public static bool Carried(long blobLength, long chunkSize) => Fits(blobLength, Math.Min(chunkSize, MaxCarriedBytes));

    /// <summary>
    /// The rendezvous key a chunk is placed by: a one-chunk blob's is its blob key (<paramref name="blobKey"/>, the
    /// metadata route's key), any other chunk's its own (<paramref name="chunkKey"/>).
    /// </summary>
    public static ulong PlacementKey(ulong chunkKey, ulong blobKey, long blobLength, long chunkSize) =>
        Fits(blobLength, chunkSize) ? blobKey : chunkKey;

    /// <summary>
    /// What a node answering a metadata lookup does about the blob's bytes, which the asker wants
    /// (<paramref name="wanted"/>) for a blob of <paramref name="blobLength"/> bytes (at most one chunk and
    /// <see cref="MaxCarriedBytes"/>): send them when it
    /// <paramref name="held"/> them; fill them from Blob first when it was asked as an owner (<paramref name="direct"/>,
    /// as the chunk's owners fill for the region); otherwise answer the properties alone (the asker reads the chunk).
    /// </summary>
    public static OwnerAction Content(bool wanted, long blobLength, long chunkSize, bool held, bool direct)
    {
        if (!wanted || !Carried(blobLength, chunkSize)) return OwnerAction.NotHere;
        return OwnerPolicy.Decide(held, fill: direct, sending: 0, maxSending: 1);
    }
}
