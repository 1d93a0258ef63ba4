namespace BlobCache.Mesh.Origin;

/// <summary>The requests a read cache sends to Blob, counted apart because each has its own cost and its own fix.</summary>
public enum OriginRequestKind : byte
{
    /// <summary>Get Blob with a range: the bytes of one chunk.</summary>
    GetRange,
    /// <summary>Get Blob Properties (HEAD): a blob's length, ETag and headers.</summary>
    Head,
    /// <summary>One page of List Blobs.</summary>
    List,
    /// <summary>Get Container Properties.</summary>
    ContainerProperties,
}

/// <summary>Why the origin refused a request (503 ServerBusy), or that it did not.</summary>
public enum OriginVerdict : byte
{
    Served,
    /// <summary>The account's request rate is spent.</summary>
    AccountRequests,
    /// <summary>This blob's request rate is spent.</summary>
    BlobRequests,
    /// <summary>The account's egress bandwidth is spent.</summary>
    AccountEgress,
}
