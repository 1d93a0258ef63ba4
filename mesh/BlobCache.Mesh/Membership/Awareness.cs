namespace BlobCache.Mesh.Membership;

/// <summary>
/// Lifeguard's local health multiplier: a score in [0, max) that rises when this node sees signs that it is the
/// slow one (probes that got no nack back, having to refute a suspicion of itself) and falls with each clean probe.
/// Its own timeouts are stretched by (score + 1), so a struggling node stops accusing healthy ones.
/// </summary>
public sealed class Awareness(int max)
{
    private readonly int _max = Math.Max(1, max);

    public int Score { get; private set; }

    public void Apply(int delta) => Score = Math.Clamp(Score + delta, 0, _max - 1);

    public long Scale(long timeout) => timeout * (Score + 1);
}
