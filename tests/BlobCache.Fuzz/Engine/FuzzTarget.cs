namespace BlobCache.Fuzz.Engine;

/// <summary>
/// One network-facing decoder under fuzz: how to build valid inputs from random fields, and what must hold for any
/// input. <see cref="Run"/> is the decoder alone (timed and allocation-measured); <see cref="Check"/> asserts on its
/// result (not measured). An exception other than <see cref="PropertyException"/> escaping either one is a crash.
/// </summary>
public abstract class FuzzTarget
{
    public abstract string Name { get; }

    /// <summary>A valid (or deliberately borderline) input built from random fields.</summary>
    public abstract byte[] Generate(Random random);

    /// <summary>
    /// Turns the input bytes into what the decoder is handed (a string, lines, a header pair): the harness's own
    /// work, so it is neither timed nor counted against the allocation bound.
    /// </summary>
    public virtual object Prepare(byte[] input) => input;

    /// <summary>Decodes one prepared input, catching only the decoder's documented exceptions.</summary>
    public abstract object? Run(object prepared);

    /// <summary>Invariants of the decoded result; throws <see cref="PropertyException"/> when one fails.</summary>
    public virtual void Check(byte[] input, object? result)
    {
    }

    /// <summary>Most bytes one <see cref="Run"/> may allocate for an input of <paramref name="inputBytes"/> bytes.</summary>
    public virtual long AllocationBound(int inputBytes) => 4L * inputBytes + 16 * 1024;

    /// <summary>Tokens the mutator splices in and repeats: format keywords, length codes, nesting openers.</summary>
    public virtual IReadOnlyList<byte[]> Dictionary => [];

    /// <summary>Inputs are cut to this length: every decoder here caps far lower, and long inputs only slow the run.</summary>
    public virtual int MaxInputBytes => 128 * 1024;

    /// <summary>For stateful targets: the earlier inputs the current state came from (hex), to replay a finding.</summary>
    public virtual string? History => null;

    /// <summary>Drops any state, so a run (or a replay) starts from the same place.</summary>
    public virtual void Reset()
    {
    }

    protected static PropertyException Violated(string what) => new(what);
}

/// <summary>An invariant of a decoder's result did not hold.</summary>
public sealed class PropertyException(string message) : Exception(message);
