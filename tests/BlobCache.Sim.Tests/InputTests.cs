using BlobCache.Sim.Scenarios;

namespace BlobCache.Sim.Tests;

public class InputTests
{
    [Fact]
    public void Every_built_in_scenario_loads()
    {
        Assert.Equal(15, Scenario.BuiltIn.Count);
        foreach (string name in Scenario.BuiltIn) Assert.Equal(name, Scenario.Load(name).Name);
    }

    [Theory]
    [InlineData("""{ "name": "x", "nodes": 1 }""", "nodes must be")]
    [InlineData("""{ "name": "x", "bootstrap": "magic" }""", "bootstrap must be")]
    [InlineData("""{ "name": "x", "nodez": 10 }""", "nodez")]
    [InlineData("""{ "name": "x", "steps": [ { "at": 5, "action": "explode" } ] }""", "unknown action")]
    [InlineData("""{ "name": "x", "steps": [ { "at": 5, "action": "stall", "fraction": 0.1 } ] }""", "until must come after")]
    [InlineData("""{ "name": "x", "workload": { "kind": "party" } }""", "kind must be")]
    [InlineData("""{ "name": "x", "bootstrap": "fleet", "duration": 200, "start_shape": "zigzag" }""", "start_shape must be")]
    [InlineData("""{ "name": "x", "bootstrap": "fleet", "duration": 30, "start_seconds": 60 }""", "start_seconds must be")]
    [InlineData("""{ "name": "x", "workload": { "kind": "epoch", "chunks": 4, "files": 5 } }""", "files must be")]
    [InlineData("""{ "name": "x", "workload": { "kind": "epoch", "origin": { "blob_requests_per_second": -1 } } }""", "origin")]
    [InlineData("""{ "name": "x", "workload": { "kind": "epoch", "host": { "cores": 0 } } }""", "host: cores")]
    [InlineData("""{ "name": "x", "workload": { "kind": "epoch", "host": { "node_ms_per_mib": -1 } } }""", "host: CPU costs")]
    [InlineData("""{ "name": "x", """, "not valid")]
    public void A_bad_scenario_file_is_rejected_with_a_message_that_names_the_problem(string json, string expected)
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, json);
            ArgumentException e = Assert.Throws<ArgumentException>(() => Scenario.Load(path));
            Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void An_unknown_scenario_name_lists_the_built_in_ones()
    {
        ArgumentException e = Assert.Throws<ArgumentException>(() => Scenario.Load("no-such-scenario"));
        Assert.Contains("stampede", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--nodes", "1" }, "--nodes must be")]
    [InlineData(new[] { "--seed", "-3" }, "--seed must be")]
    [InlineData(new[] { "--lifeguard", "maybe" }, "on or off")]
    [InlineData(new[] { "--bogus" }, "unknown flag")]
    [InlineData(new[] { "--duration" }, "needs a value")]
    public void Bad_flags_are_rejected_with_a_clear_message(string[] args, string expected)
    {
        ArgumentException e = Assert.Throws<ArgumentException>(() => SimOptions.Parse(args));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Flags_override_the_scenario_and_drop_steps_beyond_a_shortened_run()
    {
        Scenario s = new SimOptions { Nodes = 50, Duration = 30 }.Apply(Scenario.Load("region-partition"));
        Assert.Equal(50, s.Nodes);
        Assert.Equal(30, s.Duration);
        Assert.DoesNotContain(s.Steps, st => st.Action == "heal"); // the heal was at 70 s
    }
}
