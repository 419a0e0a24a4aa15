using System.Buffers;
using System.Text;
using TrackMulti.Api.Ingestion;

namespace TrackMulti.Tests.Unit;

/// <summary>
/// Events sent exactly as the Api writes them are stored as sent, without a parsed document; every event, whichever
/// way it is read, gives the bytes and the errors the full reader gives.
/// </summary>
public sealed class AsSentReadingTests
{
    private static readonly DateTimeOffset ReceivedAt = new(2025, 10, 24, 10, 30, 15, 456, TimeSpan.Zero);

    /// <summary>What <c>JSON.stringify</c> makes of the seed's events and of the FME SDK's fields: the short way.</summary>
    private static readonly string[] AsWritten =
    [
        """{"trafficType":"user","name":"button_click","value":1,"properties":{"timestamp":"2025-10-24T10:30:15.123Z","counter":1,"page":"/"}}""",
        """{"trafficType":"account","name":"a.b:c-d_E9","key":"user-7","value":-1.5e-3,"properties":null,"timestamp":1796109259152}""",
        """{"trafficType":"user","name":"x","value":null,"properties":{},"timestamp":"yesterday"}""",
        """{"trafficType":"user","name":"x","properties":{"a":true,"b":false,"c":null,"d":"Mozilla/5.0 (X11; Linux x86_64)","e":0}}""",
        """{"trafficType":"a b","name":"x","key":"k k","timestamp":null}""",
        """{"trafficType":"user","name":"x","properties":{"p":""" + "\"" + new string('s', 15871) + "\"}}",   // FME's 32 KB exactly
    ];

    /// <summary>Valid and invalid events that need the full reader: each detail the short way must not get wrong.</summary>
    private static readonly string[] NotAsWritten =
    [
        """{"name":"x"}""",                                                      // trafficType filled in
        """{"name":"x","trafficType":"user"}""",                                 // out of the model's order
        """{"trafficType":"User","name":"x"}""",                                 // lowered
        """{"trafficType":"user","name":"x","key":" k"}""",                      // trimmed
        """{"trafficType":"user","name":"x","key":null}""",                      // left out
        """{"trafficType":"user","name":"x","campaign":1}""",                    // kept after receivedAt
        """{"trafficType":"user", "name":"x"}""",                                // whitespace between tokens
        """{"trafficType":"user","name":"x","properties":{"s":"<&'+`"}}""",      // escaped by the writer
        """{"trafficType":"user","name":"x","properties":{"s":"\u0041"}}""",     // an escape
        """{"trafficType":"user","name":"x","properties":{"s":"é"}}""",          // beyond ASCII
        """{"trafficType":"user","name":"x","value":1e+5}""",
        """{"trafficType":"user","name":"x","timestamp":{"ms":1}}""",
        """{"trafficType":"user","name":"x","properties":""" + Properties(33) + "}",
        // Refused:
        """{"trafficType":"user","name":"x","properties":{"p":""" + "\"" + new string('s', 15872) + "\"}}",
        """{"trafficType":"user","name":"x","properties":""" + Properties(301) + "}",
        """{"trafficType":"user","name":"x","properties":{"a":1,"a":2}}""",
        """{"trafficType":"user","name":"x","properties":{"a":{"b":1}}}""",
        """{"trafficType":"user","name":"x","properties":[]}""",
        """{"trafficType":"user","name":"x","value":1e400}""",
        """{"trafficType":"user","name":"x","value":"1"}""",
        """{"trafficType":"user","name":"x","key":""" + "\"" + new string('k', 251) + "\"}",
        """{"trafficType":"user","name":"x","key":""}""",
        """{"trafficType":"user","name":"-x"}""",
        """{"trafficType":"user","name":""" + "\"" + new string('n', 81) + "\"}",
        """{"trafficType":"","name":"x"}""",
        """{"trafficType":" ","name":"x"}""",
        """{"trafficType":"user","name":"x","Name":"y"}""",
        """{"trafficType":"user","name":"x","receivedAt":"2025-01-01T00:00:00.000Z"}""",
        """{"trafficType":"user","name":"x","name":"y"}""",
        """{"trafficType":"user","name":"x"}{}""",
        """{"trafficType":"user","name":"x\ud800"}""",
        """[{"trafficType":"user","name":"x"}]""",
    ];

    public static TheoryData<string> AsTheApiWrites => new(AsWritten);

    public static TheoryData<string> OtherwiseWritten => new(NotAsWritten);

    private static string Properties(int count) => "{" + string.Join(",", Enumerable.Range(0, count).Select(i => $"\"p{i}\":{i}")) + "}";

    [Theory]
    [MemberData(nameof(AsTheApiWrites))]
    public void An_event_sent_as_the_Api_writes_it_is_stored_as_sent_with_receivedAt_added(string json)
    {
        var line = TrackEventReader.TryOneAsSent(Encoding.UTF8.GetBytes(json), TrackEventReader.ReceivedAtEnding(ReceivedAt));

        Assert.NotNull(line);
        Assert.Equal(json[..^1] + ""","receivedAt":"2025-10-24T10:30:15.456Z"}""", Encoding.UTF8.GetString(line));
        AssertSameAsFullReader(json);
    }

    [Theory]
    [MemberData(nameof(OtherwiseWritten))]
    public void Any_other_event_reads_as_the_full_reader_reads_it(string json)
    {
        Assert.Null(TrackEventReader.TryOneAsSent(Encoding.UTF8.GetBytes(json), TrackEventReader.ReceivedAtEnding(ReceivedAt)));
        AssertSameAsFullReader(json);
    }

    [Fact]
    public void A_batch_stores_the_lines_each_of_its_events_gives_alone_as_an_array_and_as_NDJSON()
    {
        var events = AsWritten.Concat(NotAsWritten.Take(13)).ToList();
        var expected = events.Select(json => Encoding.UTF8.GetString(TrackEventReader.ReadInFull(Encoding.UTF8.GetBytes(json), ReceivedAt).Line!)).ToList();

        var array = ReadBatch("[" + string.Join(",", events) + "]", ndjson: false);
        var ndjson = ReadBatch(string.Join("\n", events), ndjson: true);

        Assert.Equal(expected, array.Lines!.Select(line => Encoding.UTF8.GetString(line)));
        Assert.Equal(expected, ndjson.Lines!.Select(line => Encoding.UTF8.GetString(line)));
    }

    [Fact]
    public void In_a_batch_an_invalid_event_among_events_sent_as_written_is_named_by_its_index()
    {
        var good = AsWritten[0];
        var bad = """{"trafficType":"user","name":"x","value":"1"}""";

        var read = ReadBatch($"[{good},{good},{bad},{good}]", ndjson: false);

        Assert.Null(read.Lines);
        Assert.Equal(["[2].value"], read.FieldErrors!.Keys);
    }

    [Theory]
    [InlineData("""[{"trafficType":"user","name":"x"},{"trafficType":"user","name":"x","properties":{"a":1,"a":2}}]""", "not valid JSON")]
    [InlineData("""[{"trafficType":"user","name":"x"}]]""", "not valid JSON")]
    [InlineData("""[{"trafficType":"user","name":"x"}""", "not valid JSON")]
    public void A_batch_the_short_way_cannot_read_gets_the_full_readers_word(string body, string expected)
    {
        Assert.Contains(expected, ReadBatch(body, ndjson: false).MalformedReason);
    }

    [Theory]
    [InlineData("[]", false)]
    [InlineData("\n \n", true)]
    public void A_well_formed_batch_of_no_events_is_empty_not_malformed(string body, bool ndjson)
    {
        var read = ReadBatch(body, ndjson);

        Assert.Null(read.MalformedReason);
        Assert.Null(read.Lines);
        Assert.Contains("no events", read.EmptyReason);
    }

    [Fact]
    public void In_a_batch_an_entry_that_is_no_object_is_named_by_its_index()
    {
        var read = ReadBatch($"[{AsWritten[0]},1]", ndjson: false);

        Assert.Contains("must be a JSON object", Assert.Single(read.FieldErrors!["[1]"]));
    }

    [Fact]
    public void A_batch_over_the_count_is_refused_with_its_count_whichever_way_its_events_are_written()
    {
        var good = AsWritten[0];

        Assert.Equal(4, ReadBatch($"[{good},{good},{good},{good}]", ndjson: false, maxEvents: 3).TooManyEvents);
    }

    /// <summary>Events built at random from the pieces above: whichever way each is read, the same outcome.</summary>
    [Fact]
    public void Random_events_read_the_same_both_ways()
    {
        // Each field: pieces the short way takes, then pieces it leaves to the full reader (valid or not).
        (string[] Taken, string[] Left)[] fields =
        [
            (["\"trafficType\":\"user\","], ["", "\"trafficType\":\"User\",", "\"trafficType\":\"\","]),
            (["\"name\":\"x\"", "\"name\":\"a.b:c\""], ["\"name\":\"bad name\"", "\"name\":1", "\"name\":\"\\u0078\""]),
            (["", ",\"key\":\"u-1\""], [",\"key\":\" u\"", ",\"key\":null", ",\"key\":\"\""]),
            (["", ",\"value\":1", ",\"value\":-0.5E2", ",\"value\":null"], [",\"value\":true", ",\"value\":1e999"]),
            (["", ",\"properties\":{}", ",\"properties\":{\"a\":\"b c\",\"n\":2}", ",\"properties\":null"],
                [",\"properties\":{\"a\":1,\"a\":1}", ",\"properties\":{\"a\":[1]}", ",\"properties\":{\"é\":\"<\"}", ",\"properties\":{ \"a\" : 1 }"]),
            (["", ",\"timestamp\":1", ",\"timestamp\":\"t\""], [",\"timestamp\":[1]"]),
            ([""], [",\"campaign\":\"c\"", ",\"Value\":1", ",\"receivedAt\":\"r\""]),
        ];
        var random = new Random(11);
        string Pick((string[] Taken, string[] Left) field) =>
            random.Next(5) > 0 ? field.Taken[random.Next(field.Taken.Length)] : field.Left[random.Next(field.Left.Length)];

        var shortWays = 0;
        for (var i = 0; i < 3000; i++)
        {
            var json = "{" + string.Concat(fields.Select(Pick)) + "}";
            shortWays += TrackEventReader.TryOneAsSent(Encoding.UTF8.GetBytes(json), TrackEventReader.ReceivedAtEnding(ReceivedAt)) is null ? 0 : 1;
            AssertSameAsFullReader(json);
        }
        Assert.InRange(shortWays, 300, 2700); // both ways were taken, often
    }

    private static BatchReadResult ReadBatch(string body, bool ndjson, int maxEvents = 1000) =>
        TrackEventReader.ReadBatch(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(body)), ndjson, ReceivedAt, maxEvents);

    private static void AssertSameAsFullReader(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var read = TrackEventReader.Read(new ReadOnlySequence<byte>(bytes), ReceivedAt);
        var full = TrackEventReader.ReadInFull(bytes, ReceivedAt);

        Assert.Equal(full.Line is null ? null : Encoding.UTF8.GetString(full.Line), read.Line is null ? null : Encoding.UTF8.GetString(read.Line));
        Assert.Equal(full.MalformedReason, read.MalformedReason);
        Assert.Equal(
            full.FieldErrors?.OrderBy(e => e.Key).Select(e => $"{e.Key}: {string.Join(" | ", e.Value)}"),
            read.FieldErrors?.OrderBy(e => e.Key).Select(e => $"{e.Key}: {string.Join(" | ", e.Value)}"));
    }
}
