namespace BlobCache.Mesh.Reading;

/// <summary>What an owner (or any peer asked for a chunk) does with a request.</summary>
public enum OwnerAction : byte
{
    /// <summary>Send the chunk now.</summary>
    Send,
    /// <summary>Join (or start) this node's one fill of the chunk from Blob, then decide again.</summary>
    Fill,
    /// <summary>Every transfer slot is taken: answer "busy" with the holders it knows, so the reader asks them.</summary>
    Busy,
    /// <summary>Not held here and the request does not ask for a fill.</summary>
    NotHere,
}

/// <summary>
/// The peer side of a chunk request, shared by the node's transports and the simulator: at most
/// <c>maxSending</c> chunks go out at once, so a stampede on one chunk costs the owner a bounded amount of work
/// and the readers it turns away go to the members it already sent the chunk to.
/// </summary>
public static class OwnerPolicy
{
    public static OwnerAction Decide(bool held, bool fill, int sending, int maxSending)
    {
        if (!held) return fill ? OwnerAction.Fill : OwnerAction.NotHere;
        return sending < maxSending ? OwnerAction.Send : OwnerAction.Busy;
    }
}
