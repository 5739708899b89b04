"""The UART link to MCU boards (UART_SPEC.md): COBS frames with CRC, typed messages, the serial
transport and the board as a satellite."""
