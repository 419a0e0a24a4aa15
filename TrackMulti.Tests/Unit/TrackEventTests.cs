using System.Buffers;
using System.Text;
using System.Text.Json;
using TrackMulti.Api.Ingestion;
using TrackMulti.Api.Model;

namespace TrackMulti.Tests.Unit;

/// <summary>The event model's JSON line: read back into the same event, written by hand as the serializer writes it.</summary>
public sealed class TrackEventTests
{
    private static readonly DateTimeOffset ReceivedAt = new(2025, 10, 24, 10, 30, 15, 456, TimeSpan.Zero);

    private static TrackEventReadResult Read(string json) => TrackEventReader.Read(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(json)), ReceivedAt);

    [Fact]
    public void A_line_reads_back_into_the_same_event()
    {
        var line = Read("""{"trafficType":"account","name":"a.b:c-d_e","value":2.5,"properties":{"x":null,"y":true}}""").Line!;

        var original = TrackEvent.FromJsonLine(line);
        var roundTripped = TrackEvent.FromJsonLine(original.ToJsonLine());

        Assert.Equal(original.Name, roundTripped.Name);
        Assert.Equal(original.TrafficType, roundTripped.TrafficType);
        Assert.Equal(original.NumericValue, roundTripped.NumericValue);
        Assert.Equal(original.ReceivedAt, roundTripped.ReceivedAt);
        Assert.True(JsonElement.DeepEquals(original.Properties!.Value, roundTripped.Properties!.Value));
    }

    [Theory]
    [InlineData("""{"name":"a"}""")]
    [InlineData("""{"trafficType":"Account","name":"b.c:d","key":" k ","value":-1.25e3,"properties":{"s":"<é & \u00e9 \"q\">","n":null,"t":true}}""")]
    [InlineData("""{"name":"a","value":null,"properties":null,"zeta":[1,{"x":"\ud83d\ude00"}],"alpha":"ünï"}""")]
    [InlineData("""{"name":"a","properties":{"k !#$%()*,-./:;=?@[]^_{|}~":" !#$%()*,-./09:;=?@AZ[]^_az{|}~"},"o":[true,null,{"a b":-0.5e-3}]}""")]
    [InlineData("""{"name":"a","properties":{"s":"&'+<>`\\\"\/\b\f\n\r\t\u0001\u007f"}}""")]
    public void The_line_written_by_hand_is_byte_for_byte_what_the_serializer_writes_of_the_model(string json)
    {
        var model = TrackEvent.FromJsonLine(Read(json).Line!);

        Assert.Equal(
            Encoding.UTF8.GetString(JsonSerializer.SerializeToUtf8Bytes(model, RowJsonContext.Default.TrackEvent)),
            Encoding.UTF8.GetString(model.ToJsonLine()));
    }
}
