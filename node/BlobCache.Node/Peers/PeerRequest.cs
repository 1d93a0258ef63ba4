using BlobCache.Node.Endpoint;
using BlobCache.Store;

namespace BlobCache.Node.Peers;

/// <summary>Checks a peer's chunk request before anything is read for it, whatever the transport.</summary>
public static class PeerRequest
{
    /// <summary>The chunk a gRPC request asks for, and null when it is valid, else why not.</summary>
    public static string? Validate(string accountExpected, Grpc.FetchRequest request, int chunkSize, out ChunkId id)
    {
        id = default;
        // Before the id is built: ChunkId refuses a negative index by throwing.
        if (request.Index < 0) return $"chunk {request.Index} is outside a {request.BlobLength}-byte blob";
        id = new ChunkId(request.Account, request.Container, request.Blob, request.Etag, request.Index);
        return Validate(accountExpected, id, request.BlobLength, chunkSize);
    }

    /// <summary>Null when valid, else why not.</summary>
    public static string? Validate(string accountExpected, ChunkId id, long blobLength, int chunkSize)
    {
        if (ValidateBlob(accountExpected, id) is { } error) return error;
        if (string.IsNullOrEmpty(id.ETag) || id.ETag.Length > 256) return "bad etag";
        if (blobLength <= 0) return "blob length must be positive";
        if (id.Index < 0 || id.Index > (blobLength - 1) / chunkSize) return $"chunk {id.Index} is outside a {blobLength}-byte blob";
        return null;
    }

    /// <summary>Null when a request is for this mesh's account, else why not.</summary>
    public static string? ValidateAccount(string accountExpected, string account) =>
        string.Equals(account, accountExpected, StringComparison.Ordinal) ? null : $"account '{account}' is not this mesh's";

    /// <summary>Null when the request names a blob of this mesh's account by valid names, else why not.</summary>
    public static string? ValidateBlob(string accountExpected, ChunkId id)
    {
        if (ValidateAccount(accountExpected, id.Account) is { } error) return error;
        if (!BlobNames.IsValidContainer(id.Container)) return "bad container name";
        if (!BlobNames.IsValidBlob(id.Blob)) return "bad blob name";
        return null;
    }
}
