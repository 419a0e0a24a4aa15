using System.Buffers;
using System.Text;
using TrackMulti.Api.Ingestion;

namespace TrackMulti.Tests.Unit;

/// <summary>
/// The full reader of a sent event (<see cref="TrackEventReader"/>): the line it writes (the fields as received, then
/// <c>receivedAt</c>), a malformed body, each invalid field named, the properties measured as FME counts them.
/// </summary>
public sealed class TrackEventReaderTests
{
    private static readonly DateTimeOffset ReceivedAt = new(2025, 10, 24, 10, 30, 15, 456, TimeSpan.Zero);

    private static TrackEventReadResult Read(string json) => TrackEventReader.Read(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(json)), ReceivedAt);

    [Fact]
    public void A_seed_event_is_written_as_the_received_fields_plus_receivedAt()
    {
        var read = Read("""{"trafficType":"user","name":"button_click","value":1,"properties":{"timestamp":"2025-10-24T10:30:15.123Z","counter":1,"page":"/"}}""");

        Assert.NotNull(read.Line);
        Assert.Equal(
            """{"trafficType":"user","name":"button_click","value":1,"properties":{"timestamp":"2025-10-24T10:30:15.123Z","counter":1,"page":"/"},"receivedAt":"2025-10-24T10:30:15.456Z"}""",
            Encoding.UTF8.GetString(read.Line));
    }

    [Fact]
    public void Unknown_top_level_fields_are_kept_after_receivedAt_and_a_client_receivedAt_is_refused()
    {
        var read = Read("""{"name":"signup","key":"user-7","campaign":{"id":3}}""");

        Assert.Equal(
            """{"trafficType":"user","name":"signup","key":"user-7","receivedAt":"2025-10-24T10:30:15.456Z","campaign":{"id":3}}""",
            Encoding.UTF8.GetString(read.Line!));
        Assert.Contains("set by the server", Assert.Single(Read("""{"name":"a","receivedAt":"1999-01-01T00:00:00.000Z"}""").FieldErrors!["receivedAt"]));
    }

    [Fact]
    public void Values_and_properties_are_written_exactly_as_received_explicit_nulls_included()
    {
        Assert.Equal(
            """{"trafficType":"user","name":"a","value":1.50,"properties":null,"receivedAt":"2025-10-24T10:30:15.456Z"}""",
            Encoding.UTF8.GetString(Read("""{"name":"a","value":1.50,"properties":null}""").Line!));
        Assert.Equal(
            """{"trafficType":"user","name":"a","value":null,"receivedAt":"2025-10-24T10:30:15.456Z"}""",
            Encoding.UTF8.GetString(Read("""{"name":"a","value":null}""").Line!));
    }

    [Theory]
    [InlineData("", "not valid JSON")]
    [InlineData("{\"name\":", "not valid JSON")]
    [InlineData("[{\"name\":\"x\"}]", "must be a JSON object")]
    [InlineData("\"button_click\"", "must be a JSON object")]
    public void A_body_that_is_not_one_JSON_object_is_malformed(string body, string expected)
    {
        var read = Read(body);

        Assert.Null(read.Line);
        Assert.Contains(expected, read.MalformedReason);
    }

    [Theory]
    [InlineData("""{"trafficType":"user"}""", "name", "required")]
    [InlineData("""{"name":""}""", "name", "empty")]
    [InlineData("""{"name":42}""", "name", "string")]
    [InlineData("""{"name":"x","trafficType":7}""", "trafficType", "string")]
    [InlineData("""{"name":"x","value":"1"}""", "value", "number")]
    [InlineData("""{"name":"bad event name!"}""", "name", "FME event type rule")]
    [InlineData("""{"name":"x","properties":[1]}""", "properties", "object")]
    [InlineData("""{"name":"x","key":false}""", "key", "string")]
    public void Each_invalid_field_is_named(string body, string field, string expected)
    {
        var read = Read(body);

        Assert.Null(read.Line);
        Assert.NotNull(read.FieldErrors);
        Assert.Contains(expected, Assert.Single(read.FieldErrors[field]));
    }

    /// <summary>FME counts properties in UTF-16 characters however they are spelled: raw ASCII, multi-byte UTF-8 or escaped.</summary>
    [Theory]
    [InlineData("x", "x")]
    [InlineData("\u00e9", "é")]        // 2 UTF-8 bytes, 1 character
    [InlineData("\\u00e9", "é")]      // escaped in the JSON text
    [InlineData("\ud83d\ude00", "😀")]   // 4 UTF-8 bytes, 2 characters
    public void Properties_are_measured_in_characters_as_FME_counts_them(string spelling, string character)
    {
        // 1 KB + 2 × 2 ("ss") + 2 × 15870 characters is exactly FME's 32 KB; one character more is over.
        var characters = 15870 / character.Length;
        string Body(int extra) => $$$"""{"name":"a","properties":{"ss":"{{{string.Concat(Enumerable.Repeat(spelling, characters))}}}{{{new string('x', extra)}}}"}}""";

        Assert.NotNull(Read(Body(0)).Line);
        Assert.Contains("properties", Read(Body(1)).FieldErrors!.Keys);
        Assert.NotNull(Read(Body(0).Replace("\"ss\"", "\"s\\u0073\"")).Line);   // the name escaped
    }

    [Fact]
    public void Whitespace_between_tokens_is_not_stored_and_whitespace_in_strings_is()
    {
        var pretty = Read("""{ "name" : "a" , "value" : 1 , "properties" : { "s" : "x  y" } , "o" : [ 1 , { "p q" : "r" } ] }""".Replace(" , ", " ,\r\n\t"));

        Assert.Equal(
            Encoding.UTF8.GetString(Read("""{"name":"a","value":1,"properties":{"s":"x  y"},"o":[1,{"p q":"r"}]}""").Line!),
            Encoding.UTF8.GetString(pretty.Line!));
    }
}
